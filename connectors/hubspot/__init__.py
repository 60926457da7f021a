"""HubSpot through hubspot-api-client: its settings, client, object declarations, readers and task writer."""
