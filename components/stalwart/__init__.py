"""The Stalwart mail server component (server.py) and what it is made of: one module per concept
both generations share (data claims, pod, NetworkPolicy, ingresses, endpoints, the server's own
Jobs, the upgrade's gate, and runtime.py, the hand-over to a generation), and each generation's
own modules in v015/ and v016/."""
