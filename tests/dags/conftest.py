import pytest

from tests.dags.airflow_env import migrate


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("airflow_home")
    migrate(home)
    return home
