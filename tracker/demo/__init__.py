"""Demo data for trying the tracker out."""
