# Stand-in Odoo (a test double, not Odoo): the l10n_ar module's manifest.
{
    'name': 'Argentina - Accounting',
    'version': '19.0.3.7',
    'category': 'Accounting/Localizations/Account Charts',
    'depends': ['base', 'contacts'],
    'installable': True,
    'license': 'LGPL-3',
}
