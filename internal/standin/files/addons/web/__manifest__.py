# Stand-in Odoo (a test double, not Odoo): the web module's manifest.
{
    'name': 'Web',
    'version': '19.0.1.0',
    'category': 'Hidden',
    'depends': ['base'],
    'installable': True,
    'auto_install': True,
    'license': 'LGPL-3',
}
