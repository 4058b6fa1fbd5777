"""Rewrite the settings table in docs/configuration.md from the code.

Run `python scripts/sync_settings_table.py` after adding or changing a setting; a test fails
while the table and the code disagree.
"""

from pathlib import Path

from tickerpulse.settings_doc import BEGIN, END, settings_table

page = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
text = page.read_text(encoding="utf-8")
head, rest = text.split(BEGIN, 1)
_, tail = rest.split(END, 1)
page.write_text(head + BEGIN + "\n" + settings_table() + "\n" + END + tail, encoding="utf-8")
print(f"updated {page}")
