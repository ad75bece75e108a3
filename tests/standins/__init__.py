"""Stand-ins of Stalwart and Authentik whose behaviour comes from upstream source and from
recorded real runs."""
