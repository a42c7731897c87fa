"""Operations: `flask backup PATH` / `flask restore PATH` (tracker.ops.backup)."""
