# Loomworks keeps no tables of its own: people are Django users, roles are groups
# (loomworks.roles). This module exists so Django sends this app's post_migrate signal.
