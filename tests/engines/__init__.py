"""Real database servers for the tests (PostgreSQL, Redis), private to each test worker."""
