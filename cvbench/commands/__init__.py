"""One module per `cvbench` command; parsing.py and output.py are what they share."""
