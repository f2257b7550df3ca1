"""Operations on the stored history itself: backup, restore, verify, key rotation."""
