"""`python -m cvbench`: the same tiny entry as the console script (see _entry.py)."""

if __name__ == "__main__":
    from cvbench._entry import main

    main()
