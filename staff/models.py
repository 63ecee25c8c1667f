# Roles are Django groups (see roles.py); this app owns no tables of its own.
