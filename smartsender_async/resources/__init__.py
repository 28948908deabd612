"""Resource namespaces: `client.chats`, `.contacts`, `.operators` and `.gates`."""
