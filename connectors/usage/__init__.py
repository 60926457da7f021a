"""The product usage API through httpx: its settings, client, item mapping and readers."""
