"The lab, the top floor: demo data, demo models, the comparison runner and the CLI; no loss or tool imports it"
