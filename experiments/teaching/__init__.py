"""Teaching: pictures of every stage (explain), the guided tutorial, the README figures."""
