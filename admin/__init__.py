"""Admin console: edit dialogue flows, train/publish/roll back models, knowledge base, tickets, dashboards."""
