# Stand-in Odoo (a test double, not Odoo): the version, declared as Odoo's
# own odoo/release.py does, for tools that read the series from the source.
ALPHA, BETA, RELEASE_CANDIDATE, FINAL = "alpha", "beta", "candidate", "final"
RELEASE_LEVELS_DISPLAY = {ALPHA: "alpha", BETA: "beta", RELEASE_CANDIDATE: "rc", FINAL: ""}

version_info = (19, 0, 0, FINAL, 0, '')
series = serie = major_version = '.'.join(str(s) for s in version_info[:2])
version = series + RELEASE_LEVELS_DISPLAY[version_info[3]] + str(version_info[4] or '') + version_info[5]
