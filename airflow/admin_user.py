"""Make Airflow's `admin` user (FAB auth manager) have the password BURNOUT_AIRFLOW_ADMIN_PASSWORD.

    python airflow/admin_user.py        (in Airflow's environment, after `airflow db migrate`)

Run at every start, by the local stack (local_stack/airflow_local.py) and by the compose stack's
airflow-init (dockerfiles/airflow-entrypoint.sh): the user is created with the Admin role the
first time, and its password is set again afterwards, so changing the password in `.env` and
restarting is how it is changed. One process instead of `airflow users create` and
`airflow users reset-password` (each CLI call costs ~10 s of start-up here); the calls are the
ones those commands make.
"""

from __future__ import annotations

import logging
import os
import sys

USERNAME = "admin"
ROLE = "Admin"

log = logging.getLogger("admin_user")


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s admin_user: %(message)s")
    password = os.environ.get("BURNOUT_AIRFLOW_ADMIN_PASSWORD", "")
    if not password:
        log.error("BURNOUT_AIRFLOW_ADMIN_PASSWORD is not set (see .env.example)")
        return 2
    from airflow.providers.fab.auth_manager.cli_commands.utils import get_application_builder

    with get_application_builder() as appbuilder:
        security = appbuilder.sm
        user = security.find_user(username=USERNAME)
        if user is None:
            role = security.find_role(ROLE)
            created = security.add_user(
                USERNAME, "Burnout", "Admin", "admin@burnout-ray.invalid", role, password
            )
            if not created:
                log.error("could not create the %s user", USERNAME)
                return 1
            log.info("created Airflow user %s (role %s)", USERNAME, ROLE)
        elif security.reset_password(user.id, password):
            log.info("Airflow user %s: password set from BURNOUT_AIRFLOW_ADMIN_PASSWORD", USERNAME)
        else:
            log.error("could not set the password of %s", USERNAME)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
