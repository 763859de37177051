# Stand-in Odoo (a test double, not Odoo): the contacts module's manifest.
{
    'name': 'Contacts',
    'version': '19.0.1.0',
    'category': 'Sales/CRM',
    'depends': ['base', 'web'],
    'installable': True,
    'application': True,
    'license': 'LGPL-3',
}
