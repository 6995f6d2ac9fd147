from mentorflow.cli import app

app()
