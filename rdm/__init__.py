"""rdm: instance-adaptive neural compression (van Rozendaal, Huijben, Cohen, ICLR 2021)."""
