"""Connect to Azure: the tenants an organization consented insitu's application in."""
