"""upsync sandbox: local HTTPS stand-ins for Salesforce, HubSpot and a product usage API."""
