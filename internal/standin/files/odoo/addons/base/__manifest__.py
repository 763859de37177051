# Stand-in Odoo (a test double, not Odoo): the base module's manifest.
{
    'name': 'Base',
    'version': '19.0.1.3',
    'category': 'Hidden',
    'depends': [],
    'installable': True,
    'auto_install': True,
    'license': 'LGPL-3',
}
