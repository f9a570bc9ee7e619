"""A database that cannot be reached gives a clear page and sends nothing."""
import config
from crisiscast.runtime import Runtime
from crisiscast.web import create_app
from dev.redis_server import free_port
from tests.conftest import csrf_token


def test_database_down_gives_a_clear_error_page(settings, sandbox_client):
    down = config.Settings({**settings, "DATABASE_URL": f"postgresql://nobody@127.0.0.1:{free_port()}/gone"})
    runtime = Runtime(down)
    client = create_app(down, runtime).test_client()
    response = client.post("/login", data={"username": "author", "password": "whatever",
                                           "csrf_token": csrf_token(client, "/login")})
    page = response.get_data(as_text=True)
    assert response.status_code == 503
    assert "The database is unavailable" in page and "Nothing was saved and nothing was sent." in page
    assert sandbox_client.accepted() == []
    runtime.close()
