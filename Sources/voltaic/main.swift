print("voltaic")
