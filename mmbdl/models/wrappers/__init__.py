from .bdl_distributed_data_parallel import BDLDistributedDataParallel

__all__ = ['BDLDistributedDataParallel']
