"""`flask import`: the JSON Lines import from the previous system."""
