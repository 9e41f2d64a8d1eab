"""The gestion partagée catalogue and its validation rules (pure)."""
