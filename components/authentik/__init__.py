"""The webmail's forward-auth objects in Authentik (`mailstack:authentik`): its REST API, the
objects as Pulumi dynamic resources over it, and the component that makes them."""
