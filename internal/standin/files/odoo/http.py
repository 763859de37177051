# Stand-in Odoo (a test double, not Odoo): an importable odoo.http, which a
# release builder imports to prove its interpreter can run the source. It
# needs only the standard library.
from . import release  # noqa: F401
