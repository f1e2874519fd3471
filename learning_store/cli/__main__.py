"""`python -m learning_store.cli`: the `learning-store` command without its console script."""

from learning_store.cli import main

main()
