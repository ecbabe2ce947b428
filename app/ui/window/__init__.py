"""The main window and what frames it: toolbar, sidebar, menus, hand-over, welcome."""
