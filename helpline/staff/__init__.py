"""Staff: accounts, sign-in, where calls ring, shift statistics."""
