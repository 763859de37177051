# Stand-in Odoo (a test double, not Odoo).
