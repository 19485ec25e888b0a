"""`flask seed-demo`: realistic demo data."""
