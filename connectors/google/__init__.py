"""Google Forms and Google Calendar connectors (Forms API v1, Calendar API v3) and their credentials."""
