"""The HTML report for people: page context, charts, the samples side by side, templates."""
