"""Response models: frozen, slotted attrs classes decoded by one cattrs converter."""
