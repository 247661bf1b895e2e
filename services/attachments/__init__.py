"""Attachments (issue 18): images for vision models and documents as context.

- `kinds`: which files are allowed, told by their bytes; safe file names.
- `images`: Pillow: checked, turned upright, EXIF dropped, resized for the model; thumbnails.
- `documents`: PDF, DOCX, XLSX, CSV, TXT and Markdown read into located passages.
- `passages`: the passages in the database and their full-text search (SQLite FTS5,
  PostgreSQL tsvector).
- `context`: what of a conversation's documents goes with a question (whole or passages).
- `store`: the attachments' rows and files, always by owner.
"""
