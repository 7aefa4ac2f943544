"""The router: matches each episode's child against the organisations' rolls and decides
who must be told (DESIGN §5, §6)."""
