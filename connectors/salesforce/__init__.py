"""Salesforce through simple-salesforce: its settings, client, object declarations, readers and task writer."""
