"""`python -m tfseg.models`: prints the model tables of docs/models.md from the registry."""

from tfseg.models.registry import markdown

print(markdown())
