"""Knowledge base that answers consultations: entries in the database, retrieval, one-time resolution."""
