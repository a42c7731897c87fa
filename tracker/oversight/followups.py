"""Follow-up calls (回访): who is due, the call, retries, and what an unsatisfied answer does."""
