"""Adapters that let other systems drive Geniziz (e.g. Genesy's custom-CRM interface)."""
