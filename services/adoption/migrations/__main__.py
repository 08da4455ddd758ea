from services.adoption.migrations import upgrade
from services.adoption.settings import get_settings

upgrade(get_settings().database_url)
print("adoption schema is up to date")
