"""Resource namespaces: ``client.chats``, ``client.contacts``, ``client.operators``, ``client.gates``."""
