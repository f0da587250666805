"""Shared infrastructure of the hotline seat: settings, database, ticket store, launcher."""
